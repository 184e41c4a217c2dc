"""The shop's pages: products, buying (scenario 6), editing (scenario 7)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from .cache import PRODUCT_CACHE_SECONDS
from .forms import OrderForm, ProductForm
from .models import Product
from .services import place_order


def product_list(request: HttpRequest) -> HttpResponse:
    """All products."""
    return render(
        request, "shop/product_list.html", {"products": Product.objects.all()}
    )


def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A product, partly served from the cache, with the buy and edit forms."""
    product = get_object_or_404(Product, slug=slug)
    return _render_product(
        request, product, OrderForm(product=product), ProductForm(instance=product)
    )


@require_POST
def buy(request: HttpRequest, slug: str) -> HttpResponse:
    """Place an order: ``order_completed`` and, nested in it, ``payment_completed``."""
    product = get_object_or_404(Product, slug=slug)
    form = OrderForm(request.POST, product=product)
    if not form.is_valid():
        return _render_product(request, product, form, ProductForm(instance=product))
    order = place_order(
        product, form.cleaned_data["quantity"], form.cleaned_data["email"]
    )
    messages.success(
        request,
        f"Order {order.pk} is {order.status}: the receipt is in the terminal. The "
        "accounting service was down, and send_robust kept that from you.",
    )
    return redirect(product)


@require_POST
def edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Save the product: its ``post_save`` receiver clears the cached page."""
    product = get_object_or_404(Product, slug=slug)
    form = ProductForm(request.POST, instance=product)
    if not form.is_valid():
        return _render_product(request, product, OrderForm(product=product), form)
    form.save()
    messages.success(request, "Saved; the cached part of the page was rendered again.")
    return redirect(product)


def _render_product(
    request: HttpRequest,
    product: Product,
    order_form: OrderForm,
    product_form: ProductForm,
) -> HttpResponse:
    return render(
        request,
        "shop/product_detail.html",
        {
            "product": product,
            "order_form": order_form,
            "product_form": product_form,
            "rendered_at": timezone.now(),
            "cache_seconds": PRODUCT_CACHE_SECONDS,
        },
    )
