# Order Platform — the two commands of the quick start:
#   make run    orderd runs the whole platform (embedded in-memory Kafka unless KAFKA_BROKERS is set)
#   make test   every test suite (including end-to-end runs of the real binaries, and a real Prometheus
#               evaluating the shipped alerts and dashboards against them), then the deployment files,
#               the systemd unit (run under a real systemd by scripts/systemd-e2e, and verified), and the
#               Prometheus configuration and rules with promtool
SWIFT ?= swift
DEB_PACKAGES := librdkafka-dev libsystemd-dev libsqlite3-dev pkg-config systemd
# promtool and prometheus, which scripts/check-monitoring and MonitoringTests need (missing = failure),
# and curl and python3 for scripts/systemd-e2e;
# without its recommended prometheus-node-exporter, whose service would take port 9100;
# and postgresql, whose server StorageTests start in a temporary directory (TEST_DATABASE_URL names
# another server instead)
MONITORING_PACKAGES := prometheus curl python3 postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps test-deps build test run clean

deps: ## install the Debian libraries the build links against, when missing
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test-deps: deps ## and the monitoring tools the tests need (make run does not install them)
	@dpkg -s $(MONITORING_PACKAGES) >/dev/null 2>&1 || { echo "installing Debian packages: $(MONITORING_PACKAGES)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $(MONITORING_PACKAGES); }

build: deps
	$(SWIFT) build

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(SUDO) scripts/systemd-e2e
	scripts/check-deploy-files
	scripts/verify-unit.sh
	scripts/check-monitoring

run: build
	.build/debug/orderd run --config etc/orderd.toml

clean:
	rm -rf .build data
