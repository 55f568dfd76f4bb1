"""The standard-address library (地址库): free-text addresses parsed into 区县/街道乡镇/社区村/道路/门牌号/
小区/楼栋/单元/室 (:mod:`citylake.jobs.address.parse`), on the written forms of the city's divisions in
:mod:`citylake.jobs.address.lexicon` and the text clean-up of :mod:`citylake.jobs.address.normalise`."""
