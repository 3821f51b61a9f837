"""Trellis's Amazon States Language engine.

Layers, each importing only the ones above it:

* ``errors``, ``clock`` — the error hierarchy and the injectable clock.
* ``language/`` — pure ASL: definition validation, JSONPath and JSONata evaluation, intrinsic
  functions, Choice rules, and the interpreter that takes one thread of an execution from one state
  boundary to the next (``language.interpreter``). Nothing here does I/O or reads the real clock.
* ``engine/`` — drives executions: task runners chosen by resource, timers, the execution store
  (in memory for Express, SQL for Standard), leases so several instances share one database.
* ``service`` — the Step Functions API operations as plain request/response dictionaries.

Nothing in ``workflows`` imports the web layer (``app``); ``app`` mounts the service on its port.
"""
