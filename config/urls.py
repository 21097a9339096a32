from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard.logins import AdminLoginForm, ConsoleLoginForm

# Both password logins are throttled (dashboard/logins.py); API tokens are not passwords.
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", include("dashboard.urls")),
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
    path(
        "login/", auth_views.LoginView.as_view(authentication_form=ConsoleLoginForm), name="login"
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]

# Styled console pages, JSON under /api/ (config/errors.py).
handler400 = "config.errors.bad_request"
handler403 = "config.errors.forbidden"
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
