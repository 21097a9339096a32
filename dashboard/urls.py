from django.urls import path

from . import views

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("tasks/<str:task_id>/", views.task_detail, name="task"),
]
