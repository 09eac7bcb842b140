from django.contrib import admin
from django.urls import path

from orders import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("orders/", views.order_list),
    path("orders/create/", views.create_order),
    path("orders/search/", views.search_orders),
    path("orders/<int:order_id>/", views.order_detail),
    path("customers/<int:customer_id>/summary/", views.customer_summary),
]
