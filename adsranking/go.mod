module github.com/casebook-ml/casebook/adsranking

go 1.26.0

require github.com/casebook-ml/casebook/platform v0.0.0

replace github.com/casebook-ml/casebook/platform => ../platform
