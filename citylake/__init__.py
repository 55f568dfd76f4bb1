"""citylake: the data base layer of a city brain (城市大脑数据底座)."""

__version__ = "0.1.0"
