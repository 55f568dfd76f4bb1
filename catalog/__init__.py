"""The data resource catalog (数据资源目录): every source and lake table with owner, grade, lineage,
freshness and quality."""
