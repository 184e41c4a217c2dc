"""Buying a product and editing it."""

from __future__ import annotations

from typing import Any

from django import forms

from .models import Product


class OrderForm(forms.Form):
    """How many, and where to send the receipt."""

    quantity = forms.IntegerField(min_value=1, max_value=10, initial=1)
    email = forms.EmailField(initial="customer@example.com")

    def __init__(self, *args: Any, product: Product, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.product = product

    def clean_quantity(self) -> int:
        quantity: int = self.cleaned_data["quantity"]
        if quantity > self.product.stock:
            raise forms.ValidationError(f"Only {self.product.stock} left in stock.")
        return quantity


class ProductForm(forms.ModelForm):
    """What a shop manager changes; saving clears the cached page."""

    class Meta:
        model = Product
        fields = ["price", "stock", "description"]
