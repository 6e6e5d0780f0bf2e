"""The feature flags an organisation can have switched on by platform admins."""

DEVELOPER_PORTAL = "developer_portal"

FLAGS: dict[str, str] = {
    DEVELOPER_PORTAL: "Developer Portal: build, test and submit cohort integrations",
}


def flag_label(flag: str) -> str:
    return FLAGS.get(flag, flag).split(":")[0]
