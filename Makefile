# RoleCall. `make run` runs it locally, `make test` runs every test.
GO ?= go
GOTEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: run test vet fuzz bench build clean

run:
	$(GO) run ./cmd/rolecall --help

test:
	./.ci/with-dynamodb.sh sh -c '$(GO) vet ./... && $(GO) test $(GOTEST_FLAGS) ./...'

vet:
	gofmt -l . | tee /dev/stderr | (! read -r _)
	$(GO) vet ./...

build:
	$(GO) build ./...

clean:
	rm -rf .cache bin .aws-sam testartifacts
