"""The pipe frames between a worker and its job children (pyresque.jobchild)."""

from __future__ import annotations

import os

from pyresque import jobchild
from pyresque import payload as codec
from pyresque.payload import Job


def roundtrip(job: Job, rehearsal: bool = False):
    read_fd, write_fd = os.pipe()
    try:
        jobchild.send_job(write_fd, job, rehearsal=rehearsal)
        os.close(write_fd)
        first = jobchild.read_frame(read_fd)
        return first, jobchild.read_frame(read_fd)  # then end-of-file
    finally:
        os.close(read_fd)


def test_a_job_crosses_the_pipe_byte_for_byte_and_end_of_file_means_no_more():
    raw = '{"class":"Übung","args":[1,"\\u0000",{"k":[]}],"id":"x"}'
    queue = "q\udcff with bytes that are not UTF-8"  # as read from Redis (surrogateescape)
    frame, after = roundtrip(Job(queue, codec.decode_job(raw), raw))
    assert frame == (queue, raw.encode(), False)
    assert after is None


def test_a_rehearsal_frame_is_marked_so():
    raw = '{"class":"Archive","args":[]}'
    frame, _ = roundtrip(Job("q", codec.decode_job(raw), raw), rehearsal=True)
    assert frame == ("q", raw.encode(), True)


def test_a_payload_larger_than_a_pipe_buffer_arrives_whole():
    raw = '{"class":"Big","args":["' + "x" * 300_000 + '"]}'
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the writer blocks until the reader has read it all
        os.close(read_fd)
        jobchild.send_job(write_fd, Job("q", codec.decode_job(raw), raw))
        os._exit(0)
    os.close(write_fd)
    try:
        assert jobchild.read_frame(read_fd) == ("q", raw.encode(), False)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
