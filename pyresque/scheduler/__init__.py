"""resque-scheduler's side of the protocol: delayed jobs, the master lock,
recurring schedules and the scheduler loop, one small module each.

* :mod:`~pyresque.scheduler.delayed`: the delayed-job keys and client calls;
* :mod:`~pyresque.scheduler.lock`: the master lock, shared with Ruby's;
* :mod:`~pyresque.scheduler.schedule`: recurring schedules (YAML, cron, every);
* :mod:`~pyresque.scheduler.loop`: ``pyresque scheduler``, moving due jobs.
"""
