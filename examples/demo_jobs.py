"""Python jobs for the demo: registered under the class names Ruby uses."""

import time

import pyresque


@pyresque.job("Greeter", queue="demo")
def greet(name: str, seconds: float = 0) -> None:
    # Long enough for resque-web to show the worker busy with it.
    time.sleep(seconds)
    print(f"Greeter: hello, {name}!", flush=True)
