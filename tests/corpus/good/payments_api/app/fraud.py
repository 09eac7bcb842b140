import httpx
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)


class FraudClient:
    """Client for the fraud-scoring service. Scoring is read-only, so retrying it is safe."""

    def __init__(self, base_url: str, timeout_seconds: float) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_seconds, connect=1.0),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        )

    @retry(
        retry=retry_if_exception_type((httpx.ConnectError, httpx.ReadTimeout)),
        stop=stop_after_attempt(3) | stop_after_delay(5),
        wait=wait_random_exponential(multiplier=0.1, max=1.0),
        reraise=True,
    )
    def score(self, customer_id: str, amount: int) -> float:
        response = self._http.post("/score", json={"customer_id": customer_id, "amount": amount})
        response.raise_for_status()
        return float(response.json()["score"])

    def close(self) -> None:
        self._http.close()
