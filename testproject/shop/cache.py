"""Where product pages are cached: the template fragment of ``product_detail.html``."""

from __future__ import annotations

from django.core.cache.utils import make_template_fragment_key

#: The fragment name in shop/product_detail.html's ``{% cache %}`` (a literal
#: there: the tag does not resolve it as a variable).
PRODUCT_FRAGMENT = "product_details"
#: Seconds a rendered product stays cached.
PRODUCT_CACHE_SECONDS = 600


def product_page_key(product_id: int) -> str:
    """The cache key of one product's cached fragment."""
    return make_template_fragment_key(PRODUCT_FRAGMENT, [product_id])
