import yaml
from kafka import KafkaConsumer

from worker.tasks import charge_subscription, send_email

consumer = KafkaConsumer(
    "user-events",
    bootstrap_servers="localhost:9092",
    group_id="notifications",
    enable_auto_commit=True,
    value_deserializer=lambda m: m.decode("utf-8"),
)


def handle(event):
    if event["type"] == "user.signup":
        send_email.delay(event["user_id"], "welcome", {"name": event.get("name", "")})
    elif event["type"] == "subscription.renewal":
        charge_subscription.delay(event["subscription_id"], event["customer_id"], event["amount"])
    elif event["type"] == "password.reset":
        send_email.delay(event["user_id"], "password_reset", {"link": event["link"]})


def main():
    print("Starting notifications consumer...")
    for message in consumer:
        try:
            event = yaml.load(message.value, Loader=yaml.Loader)
            handle(event)
        except Exception as e:
            print(f"Error processing message: {e}")


if __name__ == "__main__":
    main()
