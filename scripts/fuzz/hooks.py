"""Schemathesis hooks for `make fuzz`: the one check that matters most for a server that must
keep serving: no request, however malformed, gets a 500 (an internal error or a panic). The
documented 5xx (502 for an unreachable image_url, 503 for a model not installed or loading,
504 on timeout) are answers, not failures, so the stock server-error check is replaced."""
import schemathesis


@schemathesis.check
def no_internal_error(ctx, response, case):
    if response.status_code == 500:
        raise AssertionError(f"500 internal error: {response.text[:300]}")


# Health routes answer in their own documented shapes (the Open Inference Protocol's, /readyz's).
HEALTH = ("/readyz", "/v2/health/", "/v2/models/")


@schemathesis.check
def one_error_shape(ctx, response, case):
    if response.status_code >= 400 and not case.path.startswith(HEALTH):
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(
                f"{case.method} {case.path} -> {response.status_code} is not JSON: {response.text[:200]!r}"
            )
        for key in ("error", "type", "code"):
            if key not in body:
                raise AssertionError(f"{response.status_code} without '{key}': {response.text[:300]}")
