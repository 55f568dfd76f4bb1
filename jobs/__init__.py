"""Spark jobs silver -> gold: the theme libraries (person 人口库, enterprise 法人库, standard_address 地址库)
and the topic libraries built on them. Each job is a function from DataFrames to DataFrames; lake I/O
happens at the edges through :mod:`citylake.lake`."""
