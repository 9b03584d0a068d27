"""The agent side. The client library every agent and command uses to reach a server
(``client``, ``connection`` and what they are made of: ``inbox``, ``outbox``, ``waiters``,
``reconnect``, ``pacing``), which needs only the base install; and the agent runtime
(``runtime``, ``brains``, the device-local memory in ``cache`` and ``sync``, ``learning``,
``replies``, ``state``), which needs ``cloudbrain[agent]``."""
