# RESQUECONFIG for resque-web (resque 2.7, Gemfile.retry) in the retry compat
# tests: resque-retry's Retry tab, which needs the job classes loaded.
require "resque-retry"
require "resque-retry/server"
# Evaluated by resque-web (no file to be relative to); the cwd is ruby-fixtures/.
require File.expand_path("lib/retry_jobs")
