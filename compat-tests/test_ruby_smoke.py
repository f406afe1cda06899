def test_ruby_worker_runs_python_enqueued_job(ruby, resque, ruby_results):
    resque.enqueue_to("record", "Recorder", 1, "two", {"three": [3.0]})
    ruby.work("record")
    [seen] = ruby_results()
    assert seen["args"] == [1, "two", {"three": [3.0]}]
