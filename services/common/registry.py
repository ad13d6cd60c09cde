"""The services of the platform: the one list that the tools, the gateway and the tests read.

Adding a service: add it here (name -> "module:Class"); ``manage.py migrate`` then migrates
it and declares its event queues, ``/readyz`` expects it to answer, and the test stack
starts it. Its process goes into the Procfile, docker-compose.yml and deploy/k8s.

The classes are named, not imported: the kit imports no service.
"""

SERVICES: dict[str, str] = {
    "partners": "services.partners.service:PartnersService",
    "filing": "services.filing.service:FilingService",
    "orders": "services.orders.service:OrdersService",
    "commission": "services.commission.service:CommissionService",
    "notify": "services.notify.service:NotifyService",
}

NAMES: tuple[str, ...] = tuple(SERVICES)
