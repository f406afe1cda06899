import json

def test_enqueue_writes_ruby_layout(resque, r):
    assert resque.enqueue_to("high", "Archive", 1, "two") is True
    assert r.smembers("resque:queues") == {b"high"}
    assert r.lrange("resque:queue:high", 0, -1) == [b'{"class":"Archive","args":[1,"two"]}']
