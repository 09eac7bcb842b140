from django.contrib import admin
from django.urls import path

from orders import views

urlpatterns = [
    path("healthz", views.healthz),
    path("readyz", views.readyz),
    path("admin/", admin.site.urls),
    path("v1/orders/", views.orders),
    path("v1/orders/search/", views.search_orders),
    path("v1/orders/<int:order_id>/", views.order_detail),
    path("v1/customers/<int:customer_id>/summary/", views.customer_summary),
]
