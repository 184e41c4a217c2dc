"""JSON endpoints over the shop: list products, place an order."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from shop.models import Order, Product
from shop.services import place_order


@require_GET
def product_list(request: HttpRequest) -> JsonResponse:
    """``GET /api/products/``: every product."""
    return JsonResponse(
        {"products": [_product_data(product) for product in Product.objects.all()]}
    )


@require_GET
def product_detail(request: HttpRequest, slug: str) -> JsonResponse:
    """``GET /api/products/<slug>/``: one product."""
    return JsonResponse(_product_data(get_object_or_404(Product, slug=slug)))


# An API for machine clients: they authenticate per request, not with the
# session cookie that CSRF protects.
@csrf_exempt
@require_POST
def create_order(request: HttpRequest) -> JsonResponse:
    """``POST /api/orders/`` with ``{"product": slug, "quantity": n, "email": ...}``.

    The same ``place_order`` as the shop's page, so the same signals fire.
    A form-encoded body is accepted too.
    """
    try:
        data = _payload(request)
        slug = str(data["product"])
        quantity = int(data.get("quantity", 1))
        email = str(data.get("email", "api-client@example.com"))
    except (KeyError, TypeError, ValueError):
        return JsonResponse(
            {"error": 'expected {"product": slug, "quantity": n, "email": address}'},
            status=400,
        )
    product = Product.objects.filter(slug=slug).first()
    if product is None:
        return JsonResponse({"error": f"no product {slug!r}"}, status=404)
    if not 1 <= quantity <= product.stock:
        return JsonResponse(
            {"error": f"quantity must be between 1 and {product.stock}"}, status=400
        )
    order = place_order(product, quantity, email)
    return JsonResponse(_order_data(order), status=201)


def _payload(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise TypeError("a JSON object is expected")
        return data
    return request.POST.dict()


def _product_data(product: Product) -> dict[str, Any]:
    return {
        "slug": product.slug,
        "name": product.name,
        "price": str(product.price),
        "stock": product.stock,
        "url": product.get_absolute_url(),
    }


def _order_data(order: Order) -> dict[str, Any]:
    return {
        "id": order.pk,
        "product": order.product.slug,
        "quantity": order.quantity,
        "total": str(order.total),
        "status": order.status,
    }
