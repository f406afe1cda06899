# Usage: inline_hooks.rb < scenarios.json   ([[class name, args], ...])
# Enqueues each scenario with Resque.inline = true and prints, per scenario,
# what enqueue returned (or the error message) and the hook calls in order.
require_relative "../lib/fixtures"
require_relative "../lib/hook_jobs"

Resque.inline = true
out = JSON.parse($stdin.read).map do |name, args|
  HookJobs::LOG.clear
  result =
    begin
      { "returned" => Resque.enqueue(HookJobs.const_get(name), *args) }
    rescue => e
      { "raised" => e.message }
    end
  result.merge("log" => HookJobs::LOG.dup)
end
Fixtures.emit(out)
