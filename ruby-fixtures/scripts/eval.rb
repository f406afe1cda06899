# Usage: eval.rb < code.rb
# Evaluates test-supplied Ruby (with the fixtures loaded) and prints the
# value of its last expression as JSON. Used by the compat tests to ask Ruby
# for its own view: Resque.info, Resque::Worker.all, Resque::Failure.all...
require_relative "../lib/fixtures"

Fixtures.emit(eval($stdin.read, binding, "test-code"))
