"""The shop's pages."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "shop"

urlpatterns = [
    path("", views.product_list, name="product_list"),
    path("<slug:slug>/", views.product_detail, name="product_detail"),
    path("<slug:slug>/buy/", views.buy, name="buy"),
    path("<slug:slug>/edit/", views.edit, name="edit"),
]
