from django.urls import path

from .live.consumers import ConsoleConsumer

websocket_urlpatterns = [
    path("ws/dashboard/", ConsoleConsumer.as_asgi()),
]
