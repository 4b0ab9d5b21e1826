"""The RabbitMQ queue, by role (``docs/architecture.md`` draws the topology):

``broker/``   what both halves stand on: the connection (and what broker errors mean),
              names and exchanges, band queues with aging, every message format
              (``messages.py``), the broadcast helper, rejected messages
``gateway/``  the side that submits: tickets, positions, replies
``worker/``   the side that works: take, deliveries, ledger, verdicts, dead letters
``control.py``, ``doorbell.py``, ``heartbeat.py``  the three broadcasts
``factory.py`` builds the parts; ``manager.py`` (``RabbitMQQueue``) composes them
"""
