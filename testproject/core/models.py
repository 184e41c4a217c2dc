"""No models here; the module exists so that Django sends this app ``post_migrate``.

Django only sends ``pre_migrate`` and ``post_migrate`` to apps that have a
models module, and :func:`core.receivers.create_default_groups` listens to
this app's ``post_migrate``.
"""
