"""What models exist where, and managing them on the Ollama backends.

The gateway learns the backends from the workers' advertisements (``WorkerInfo``: name,
kind, URL, models), so this works the same embedded and distributed. Listing merges every
backend's answer; management (pull, delete, copy, create, push, unload) is passed through
to the chosen Ollama backends directly, never through the queue: it uses no slot.
"""
