# deploy/ — included by the main Makefile.  See deploy/README.md.
WEIGHTS ?= $(SHARED)/models/yolov5ss.pt
CALIB   ?= $(SHARED)/datasets/coco128_train2017/images
OUT     ?= build/models
SIZES   ?=
SELECT  ?=
DEPLOY_ARGS ?=
HOST    ?=
BUNDLE  ?=
PUSH_ARGS ?=

.PHONY: models push

## models: WEIGHTS=<.pt> CALIB=<image dir> OUT=<dir> [SIZES=320,640] [SELECT=<labelled dataset>]
##         → OUT/<stem>-{fp32,fp16,int8}/ + OUT/report.{json,md,png}
models: $(DEPLOY_STAMP)
	$(BIN)/python -m deploy models --weights "$(WEIGHTS)" --calib "$(CALIB)" --out "$(OUT)" \
		$(if $(SIZES),--sizes "$(SIZES)") $(if $(SELECT),--select "$(SELECT)") $(DEPLOY_ARGS)

## push: HOST=user@pi (or a local dir standing for the Pi's /) BUNDLE=<bundle dir>
push: $(STAMP)
	@test -n "$(HOST)" || { echo "make push: set HOST=user@pi (or a local directory)"; exit 2; }
	@test -n "$(BUNDLE)" || { echo "make push: set BUNDLE=<bundle dir>, e.g. $(OUT)/yolov5ss-int8"; exit 2; }
	$(BIN)/python -m deploy push --host "$(HOST)" --bundle "$(BUNDLE)" $(PUSH_ARGS)
