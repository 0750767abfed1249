"""The daemon's status: what it reports about itself, how it is gathered and sent.

* :mod:`.model` — plain dataclasses (times as POSIX seconds) and their JSON form
  (``status.json`` snapshots); also the results of control calls;
* :mod:`.build` — :class:`~.build.StatusBuilder` fills a snapshot from the parts the
  composition root hands it (and samples rates, keeps ``status.json``);
* :mod:`.proto` — every conversion to the wire (``observer.v1``): status, control results,
  backup manifests and tick records.
"""
