# RoleCall. `make run` runs it locally, `make test` runs every test.
GO ?= go
GOTEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: run test vet fuzz bench build clean cdk-deps deploy publish-template

run:
	$(GO) run ./cmd/rolecall serve

test: cdk-deps
	./.ci/with-dynamodb.sh sh -c '$(GO) vet ./... && $(GO) test $(GOTEST_FLAGS) ./...'

vet:
	gofmt -l . | tee /dev/stderr | (! read -r _)
	$(GO) vet ./...

build:
	$(GO) build ./...

# The CDK construct's dependencies (aws-cdk-lib, constructs, typescript),
# from its lock file into infra/cdk/node_modules (git-ignored), for
# `go test ./infra`. Skipped when npm is missing (the test then skips, or
# fails under CI=true) and when the install is newer than the lock file.
cdk-deps:
	@if ! command -v npm >/dev/null 2>&1; then echo "cdk-deps: npm not found" >&2; \
	elif [ ! -d infra/cdk/node_modules ] || [ infra/cdk/package-lock.json -nt infra/cdk/node_modules ]; then \
		npm ci --prefix infra/cdk --no-audit --no-fund --loglevel=error; fi

clean:
	rm -rf .cache bin .aws-sam testartifacts

# Fuzzing: each target for $(FUZZTIME), one after another, from its seed
# corpus (f.Add seeds and testdata/fuzz/). `go test ./...` runs the seeds only.
FUZZTIME ?= 60s
FUZZ = $(GO) test -run='^$$' -fuzztime=$(FUZZTIME)

fuzz:
	$(FUZZ) -fuzz='^FuzzParse$$' ./internal/rolearn
	$(FUZZ) -fuzz='^FuzzEvaluate$$' ./internal/sandbox
	$(FUZZ) -fuzz='^FuzzAPIRequest$$' ./internal/httpapi
	$(FUZZ) -fuzz='^FuzzCreateTenantBody$$' ./internal/httpapi
	$(FUZZ) -fuzz='^FuzzLifecycle$$' ./internal/connection
	$(FUZZ) -fuzz='^FuzzOutboxEntry$$' ./internal/publish

# Benchmarks: re-verification throughput, cost per check, sweep cost,
# latency, binary sizes and cold starts, printed as one Markdown table
# (about 7 minutes on 2 cores; DynamoDB Local is started for the DynamoDB figures).
# BENCHFLAGS passes flags, e.g. BENCHFLAGS='-only latency'.
bench:
	./.ci/with-dynamodb.sh $(GO) run ./cmd/rolecall-bench $(BENCHFLAGS)

# Lambda artifacts for `sam build` (template.yaml: Metadata: BuildMethod:
# makefile): one build-<LogicalId> target per function, writing the
# provided.al2023 bootstrap into $(ARTIFACTS_DIR). LAMBDA_GOOS/LAMBDA_GOARCH
# default to the deployed platform; the Runtime API smoke test overrides
# them to build the same artifact for the host.
LAMBDA_GOOS ?= linux
LAMBDA_GOARCH ?= arm64
# sam build sets ARTIFACTS_DIR; without it the build would write /bootstrap.
LAMBDA_BUILD = $(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: run `sam build`, or `make build-ApiFunction ARTIFACTS_DIR=bin/api`))GOOS=$(LAMBDA_GOOS) GOARCH=$(LAMBDA_GOARCH) CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags="-s -w" -o $(ARTIFACTS_DIR)/bootstrap

.PHONY: build-ApiFunction build-PublishFunction build-VerifyFunction build-SweepFunction build-RegisterFunction

build-ApiFunction:
	$(LAMBDA_BUILD) ./functions/api

build-PublishFunction:
	$(LAMBDA_BUILD) ./functions/publish

build-VerifyFunction:
	$(LAMBDA_BUILD) ./functions/verify

build-SweepFunction:
	$(LAMBDA_BUILD) ./functions/sweep

build-RegisterFunction:
	$(LAMBDA_BUILD) ./functions/register

# Deploy: sam build and sam deploy (DEPLOYFLAGS, e.g. --config-env prod),
# then publish the customer role template to the stack's own bucket, so the
# form's quick-create links work from a fresh deploy with no manual upload.
# STACK is the stack's name (samconfig.toml's stack_name of the environment).
STACK ?= rolecall-dev
# REGION is the stack's Region, named so publish-template finds the stack
# whatever the AWS CLI's default: by default the region of samconfig.toml's
# [default.deploy.parameters] (us-east-1 without one); pass REGION= for an
# environment elsewhere.
REGION ?= $(or $(shell awk -F"[\"']" '/^\[/ { s = $$0 } s == "[default.deploy.parameters]" && /^region *=/ { print $$2; exit }' samconfig.toml 2>/dev/null),us-east-1)
AWS ?= aws
deploy:
	sam build
	sam deploy $(DEPLOYFLAGS)
	$(MAKE) publish-template STACK=$(STACK) REGION=$(REGION)

publish-template:
	@bucket=$$($(AWS) cloudformation describe-stacks --region "$(REGION)" --stack-name "$(STACK)" \
	  --query "Stacks[0].Outputs[?OutputKey=='CustomerTemplateBucketName'].OutputValue" --output text) && \
	test -n "$$bucket" && test "$$bucket" != None || { echo "stack $(STACK) in $(REGION) has no CustomerTemplateBucketName output (REGION= names another Region)" >&2; exit 1; } && \
	$(AWS) s3 cp --region "$(REGION)" infra/customer-role.yaml "s3://$$bucket/customer-role.yaml" --content-type text/yaml && \
	echo "published s3://$$bucket/customer-role.yaml"
