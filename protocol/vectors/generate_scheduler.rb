# Regenerates scheduler.json from the real resque-scheduler:
#
#   cd ruby-fixtures && bundle exec ruby ../protocol/vectors/generate_scheduler.rb
#
# Delayed items are what resque-scheduler writes (Resque.encode of its own
# job hash, key order class, args, queue); lock keys are what it builds for a
# namespace and RESQUE_SCHEDULER_MASTER_LOCK_PREFIX (before redis-namespace
# adds the namespace once more). Nothing here is produced by pyresque.
require "json"
require "resque"
require "resque-scheduler"

OUT = File.expand_path(__dir__)
Resque.redis = "localhost:6379" # never connected: only the namespace is read

items = [
  ["plain", "Archive", [1, "main"], "archive"],
  ["no args", "Archive", [], "archive"],
  ["hash and nil", "Mailers::Welcome", [{ "user" => 1, "opts" => { "a" => nil } }, nil], "mail"],
  ["floats and unicode", "Recorder", [1.0, 1.0e20, 0.0001, "é\n\"q\"\u2028"], "record"],
  ["queue null (a class with no @queue, as remove_delayed searches)", "Nobody", [1], nil],
].map do |name, klass, args, queue|
  encoded = Resque.encode(Resque.send(:job_to_hash_with_queue, queue, klass, args))
  { "name" => name, "class" => klass, "args" => args, "queue" => queue, "expected" => encoded,
    "moved" => queue && Resque.encode(class: klass, args: args) }
end

locks = [["resque", ""], ["resque:app", ""], ["resque", "App"]].map do |ns, prefix|
  Resque.redis.namespace = ns
  ENV["RESQUE_SCHEDULER_MASTER_LOCK_PREFIX"] = prefix
  { "namespace" => ns, "prefix" => prefix,
    "key" => "#{ns}:" + Resque::Scheduler.send(:master_lock_key) }
end

doc = {
  "about" => { "ruby" => RUBY_VERSION, "json_gem" => JSON::VERSION, "resque" => Resque::VERSION,
               "resque_scheduler" => Resque::Scheduler::VERSION, "generator" => "protocol/vectors/generate_scheduler.rb" },
  "description" => "resque-scheduler: delayed items (the delayed:<ts> element and the <json> of timestamps:<json>), " \
                   "the {class,args} its scheduler pushes when it moves one ('moved'), and the full master lock key.",
  "items" => items,
  "master_locks" => locks,
}
File.write(File.join(OUT, "scheduler.json"), JSON.pretty_generate(doc) + "\n")
warn "wrote scheduler.json"
