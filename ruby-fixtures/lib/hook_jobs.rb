# Job classes whose hooks log every call, for comparing hook semantics with
# pyresque's (compat-tests/test_ruby_client_hooks.py mirrors them in Python).
module HookJobs
  LOG = []

  module Logging
    def note(*event)
      HookJobs::LOG << event
    end
  end

  class Ordered
    extend Logging
    @queue = :hooks
    def self.before_enqueue_b(*a) = note("before_enqueue_b", a)
    def self.before_enqueue_a(*a) = note("before_enqueue_a", a)
    def self.before_perform_x(*a) = note("before_perform_x", a)
    def self.around_perform_b(*a) = (note("around_b in", a); yield; note("around_b out", a))
    def self.around_perform_a(*a) = (note("around_a in", a); yield; note("around_a out", a))
    def self.perform(*a) = note("perform", a)
    def self.after_perform_x(*a) = note("after_perform_x", a)
    def self.after_enqueue_x(*a) = note("after_enqueue_x", a)
    def self.on_failure_x(e, *a) = note("on_failure_x", [e.message, *a])
  end

  class Gate < Ordered
    @queue = :hooks # class instance variables are not inherited
    def self.around_perform_a(*a) = note("around_a gate", a)
    def self.around_perform_b(*a) = note("never", a)
  end

  class Skip < Ordered
    @queue = :hooks # class instance variables are not inherited
    def self.before_perform_x(*a) = raise(Resque::Job::DontPerform)
  end

  class Boom < Ordered
    @queue = :hooks # class instance variables are not inherited
    def self.perform(*a) = raise("boom #{a.inspect}")
  end

  class Cancel < Ordered
    @queue = :hooks # class instance variables are not inherited
    def self.before_enqueue_a(*a) = (note("before_enqueue_a", a); false)
    def self.before_enqueue_b(*a) = (note("before_enqueue_b", a); nil)
  end
end
