"""The population library (人口库): person-bearing records, golden persons, linkage and profiles."""
