"""The corpus of the secret-masking tests: secrets of many kinds in context, and innocent look-alikes.

Every secret is made up here (a seeded generator fills the documented formats); none is real.
``SECRETS``: (kind, text before, the secret, text after). ``INNOCENT``: messages that must come out
unchanged. Used by ``test_secret_corpus.py``.
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass

_rng = random.Random(21)
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"


def _rand(alphabet: str, n: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _mixed(alphabet: str, n: int) -> str:
    """Random, with at least one character of each kind the alphabet has (upper, lower, digit)."""
    kinds = [k for k in (str.isupper, str.islower, str.isdigit) if any(k(c) for c in alphabet)]
    for _ in range(1000):
        value = _rand(alphabet, n)
        if all(any(k(c) for c in value) for k in kinds):
            return value
    raise AssertionError(f"no value of {n} from {alphabet!r}")


def _luhn_complete(prefix: str, length: int) -> str:
    body = prefix + _rand(string.digits, length - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Secret:
    kind: str
    before: str
    secret: str
    after: str = ""

    @property
    def message(self) -> str:
        return self.before + self.secret + self.after


def _secrets() -> list[Secret]:
    s: list[Secret] = []

    def add(kind: str, items: list[tuple[str, str, str]]) -> None:
        s.extend(Secret(kind, before, secret, after) for before, secret, after in items)

    key_ids = ["AKIA" + _rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16) for _ in range(4)]
    add(
        "aws_access_key_id",
        [
            ("using key ", key_ids[0], " for s3 upload"),
            ("AWS_ACCESS_KEY_ID=", key_ids[1], ""),
            ("credentials loaded: access key id ", key_ids[2], " (profile default)"),
            ("assumed role with ", "ASIA" + _rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16), ""),
        ],
    )
    add(
        "aws_secret_access_key",
        [
            (f"{key_ids[0]} ", _mixed(B64, 40), " loaded from env"),
            ("aws_secret_access_key = ", _mixed(B64, 40), ""),
            (f"boto3 client with {key_ids[3]}/", _mixed(B64, 40), ""),
            ("AWS secret key rotated, new one ", _mixed(B64, 40), ""),
        ],
    )
    add(
        "github_token",
        [
            ("cloning with token ", "ghp_" + _mixed(ALNUM, 36), ""),
            ("GITHUB_TOKEN=", "ghs_" + _mixed(ALNUM, 36), " in the runner"),
            ("oauth exchange returned ", "gho_" + _mixed(ALNUM, 36), ""),
            ("fine-grained token ", "github_pat_" + _mixed(ALNUM, 22) + "_" + _mixed(ALNUM, 59), " expires soon"),
            ("git push https://x-access-token:", "ghu_" + _mixed(ALNUM, 36), "@github.com/org/repo.git"),
        ],
    )
    add(
        "gitlab_token",
        [
            ("PRIVATE-TOKEN header set to ", "glpat-" + _mixed(ALNUM + "_-", 20), ""),
            ("registry login as deploy with ", "gldt-" + _mixed(ALNUM, 20), ""),
            ("runner registered using ", "glrt-" + _mixed(ALNUM, 20), " on host ci-3"),
        ],
    )
    add(
        "slack_token",
        [
            (
                "posting to #alerts as bot ",
                f"xoxb-{_rand(string.digits, 12)}-{_rand(string.digits, 13)}-{_mixed(ALNUM, 24)}",
                "",
            ),
            (
                "user token ",
                f"xoxp-{_rand(string.digits, 12)}-{_rand(string.digits, 12)}-{_mixed(ALNUM, 32)}",
                " revoked",
            ),
            ("app-level token=", f"xapp-1-A{_rand(ALNUM, 10)}-{_rand(string.digits, 13)}-{_mixed(HEX, 64)}", ""),
            ("refresh with ", f"xoxr-{_rand(string.digits, 12)}-{_mixed(ALNUM, 40)}", ""),
        ],
    )
    add(
        "slack_webhook",
        [
            (
                "notify via https://hooks.slack.com/services/",
                f"T{_rand(ALNUM, 8).upper()}/B{_rand(ALNUM, 8).upper()}/{_mixed(ALNUM, 24)}",
                " failed: 404",
            ),
            (
                "webhook=https://hooks.slack.com/services/",
                f"T0{_rand(HEX, 7).upper()}/B0{_rand(HEX, 7).upper()}/{_mixed(ALNUM, 24)}",
                "",
            ),
        ],
    )
    add(
        "stripe_key",
        [
            ("charging with ", "sk_live_" + _mixed(ALNUM, 24), ""),
            ("STRIPE_SECRET_KEY=", "sk_test_" + _mixed(ALNUM, 24), ""),
            ("restricted key ", "rk_live_" + _mixed(ALNUM, 24), " used by the refund job"),
            ("webhook signing secret ", "whsec_" + _mixed(ALNUM, 32), ""),
        ],
    )
    add(
        "google_api_key",
        [
            (
                "maps request https://maps.googleapis.com/maps/api/geocode/json?address=x&key=",
                "AIza" + _mixed(ALNUM + "_-", 35),
                "",
            ),
            ("firebase config apiKey ", "AIza" + _mixed(ALNUM + "_-", 35), ""),
            ("GOOGLE_API_KEY=", "AIza" + _mixed(ALNUM + "_-", 35), ""),
        ],
    )
    add(
        "azure_storage_key",
        [
            (
                "connecting DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey=",
                _mixed(B64, 86) + "==",
                ";EndpointSuffix=core.windows.net",
            ),
            (
                "service bus Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=",
                _mixed(B64, 43) + "=",
                "",
            ),
        ],
    )
    add(
        "url_signature",
        [
            (
                "downloading https://shop.blob.core.windows.net/exports/a.csv?sv=2022-11-02&sp=r&sig=",
                _mixed(ALNUM, 43) + "%3D",
                "",
            ),
            (
                "presigned https://bucket.s3.amazonaws.com/k.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=",
                _mixed(HEX, 64),
                "",
            ),
        ],
    )
    add(
        "openai_key",
        [
            ("OPENAI_API_KEY=", "sk-proj-" + _mixed(ALNUM + "_-", 64), ""),
            ("calling the completions API with ", "sk-" + _mixed(ALNUM, 48), ""),
            ("service account key ", "sk-svcacct-" + _mixed(ALNUM + "_-", 60), " loaded"),
        ],
    )
    add(
        "anthropic_key",
        [
            ("x-api-key: ", "sk-ant-api03-" + _mixed(ALNUM + "_-", 93) + "AA", ""),
            ("client created with ", "sk-ant-admin01-" + _mixed(ALNUM + "_-", 93) + "AA", ""),
        ],
    )
    add(
        "npm_token",
        [
            ("//registry.npmjs.org/:_authToken=", "npm_" + _mixed(ALNUM, 36), ""),
            ("publishing with ", "npm_" + _mixed(ALNUM, 36), ""),
        ],
    )
    add(
        "pypi_token",
        [
            ("twine upload -u __token__ -p ", "pypi-AgEIcHlwaS5vcmc" + _mixed(ALNUM + "_-", 60), ""),
            ("TWINE_PASSWORD=", "pypi-AgENdGVzdC5weXBpLm9yZw" + _mixed(ALNUM + "_-", 60), ""),
        ],
    )
    add(
        "sendgrid_key",
        [
            ("mailer configured with ", f"SG.{_mixed(ALNUM + '_-', 22)}.{_mixed(ALNUM + '_-', 43)}", ""),
            ("SENDGRID_API_KEY=", f"SG.{_mixed(ALNUM + '_-', 22)}.{_mixed(ALNUM + '_-', 43)}", ""),
        ],
    )
    add(
        "twilio_key",
        [
            ("sms client ", "SK" + _mixed(HEX, 32), " ready"),
            ("twilio api key SK", _mixed(HEX, 32), ""),
        ],
    )
    pem_body = "\n".join(_rand(B64, 64) for _ in range(4))
    add(
        "private_key",
        [
            (
                "loaded key -----BEGIN RSA PRIVATE KEY-----\n",
                "MIIEowIBAAKCAQEA" + pem_body,
                "\n-----END RSA PRIVATE KEY-----",
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\n",
                "b3BlbnNzaC1rZXktdjEAAAAA" + _rand(B64, 40),
                "\n-----END OPENSSH PRIVATE KEY-----\n",
            ),
            ("key file starts -----BEGIN EC PRIVATE KEY-----\n", "MHcCAQEEI" + _rand(B64, 50), " (truncated)"),
        ],
    )

    def jwt() -> str:
        payload = base64.urlsafe_b64encode(b'{"sub":"' + _rand(ALNUM, 10).encode() + b'","admin":true}').rstrip(b"=")
        return f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{payload.decode()}.{_mixed(ALNUM + '_-', 43)}"

    add(
        "jwt",
        [
            ("session cookie ", jwt(), ""),
            ("id_token=", jwt(), "&state=xyz"),
            ("decoded claims from ", jwt(), ": ok"),
        ],
    )
    add(
        "bearer",
        [
            ("Authorization: Bearer ", _mixed(ALNUM, 32), ""),
            ("sending header 'Authorization: Bearer ", _mixed(ALNUM + "-._~", 40), "'"),
            ("upstream replied 401 to bearer ", _mixed(ALNUM, 24), ""),
        ],
    )
    add(
        "basic_auth",
        [
            ("Authorization: Basic ", base64.b64encode(b"admin:" + _mixed(ALNUM, 12).encode()).decode(), ""),
            ("proxy auth basic ", base64.b64encode(b"svc:" + _mixed(ALNUM, 10).encode()).decode(), " accepted"),
        ],
    )
    add(
        "url_credentials",
        [
            ("connecting to postgres://shop:", _mixed(ALNUM + "!$*", 16), "@db.internal:5432/shop"),
            ("DATABASE_URL=mysql://root:", _mixed(ALNUM, 12), "@10.0.0.5/app"),
            ("broker amqp://guest:", _mixed(ALNUM, 14), "@rabbit:5672//"),
            ("cache redis://default:", _mixed(ALNUM, 20), "@redis:6379/0"),
            ("fetching https://deploy:", _mixed(ALNUM, 18), "@artifacts.example.com/pkg.tar.gz"),
            ("mongo uri mongodb+srv://app:", _mixed(ALNUM, 16), "@cluster0.abcd.mongodb.net/db"),
            # a long run of scheme-like characters before the scheme (the match starts inside it)
            ("conn=svc-primary-eu-west-1-replica.postgres://admin:", _mixed(ALNUM, 12), "@db:5432/x"),
            ("using replica-eu-west-1a.mongodb+srv://admin:", _mixed(ALNUM, 12), "@db/x"),
        ],
    )
    add(
        "password",
        [
            ("User 42 logged in with password ", "hunter2", ""),
            ("login ok, pwd ", "hunter2", ""),
            ("password is ", "Tr0ub4dor&3", ""),
            ("password: ", "correcthorse9", ""),
            ("password=", "S3cr3t!", " user=bob"),
            ("{'user': 'ann', 'password': '", "letmein42", "'}"),
            ('{"username": "ann", "passwd": "', "qwerty12", '"}'),
            ("db password was ", "Winter2026!", ""),
            ("created account bob with password ", "swordfish", ""),
            ("new password ", "Xy7#pLm2", " set for user 7"),
            ("PWD=", "p4ss-w0rd", ";"),
            ("ssh passphrase ", "myKeyPhrase8", " accepted"),
            ("password for bob is ", "blink182", ""),
            ("retrying login as admin using password ", "Admin@123", ""),
            ('mysql -u root --password="', "r00tPass", '" -e "select 1"'),
            ("Server=db;Database=shop;User Id=sa;Password=", "Pa55w0rd", ";"),
        ],
    )
    add(
        "secret",
        [
            ("client_secret=", _mixed(ALNUM, 32), ""),
            # keywords that overlap (client_secret, secret_key): the second one is the pair's key
            ("CLIENT_SECRET_KEY=", _mixed(ALNUM, 12), ""),
            ("app.client.secret.key=", _mixed(ALNUM, 10), ""),
            ("oauth app secret ", _mixed(ALNUM, 40), " loaded"),
            ("secret: ", "s3cr3tValue", ""),
            ("JWT_SECRET_KEY=", _mixed(ALNUM, 24), ""),
            ("webhook secret is ", _mixed(HEX, 32), ""),
            ("secret key ", _mixed(ALNUM, 50), " (django)"),
        ],
    )
    add(
        "api_key",
        [
            ("api key ", "sk_live_51Habc123XYZ", "..."),
            ("X-API-Key: ", _mixed(ALNUM, 32), ""),
            ("using api_key=", _mixed(HEX, 32), " for geocoding"),
            ("apikey ", _mixed(ALNUM, 28), " rejected by vendor"),
            ("the API key is ", _mixed(ALNUM, 32), ""),
        ],
    )
    add(
        "token",
        [
            ("token ", _mixed(ALNUM, 40), " issued"),
            ("access_token=", _mixed(ALNUM + "-_", 40), "&expires_in=3600"),
            ("refresh token: ", _mixed(ALNUM, 48), ""),
            ("auth token ", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", " cached"),
            ("one-time token ", "582913", " sent by sms"),
            ('{"token": "', _mixed(ALNUM, 30), '"}'),
        ],
    )
    cards = [_luhn_complete("4", 16), _luhn_complete("51", 16), _luhn_complete("37", 15), _luhn_complete("6011", 16)]
    add(
        "card_number",
        [
            ("charged card ", f"{cards[0][:4]} {cards[0][4:8]} {cards[0][8:12]} {cards[0][12:]}", " amount 12.00"),
            ("card=", cards[1], ""),
            ("amex ", f"{cards[2][:4]}-{cards[2][4:10]}-{cards[2][10:]}", " declined"),
            ("payment with ", f"{cards[3][:4]}-{cards[3][4:8]}-{cards[3][8:12]}-{cards[3][12:]}", ""),
        ],
    )
    return s


SECRETS: list[Secret] = _secrets()

# ---------------------------------------------------------------------------------------------------
# Innocent look-alikes: every one must come out unchanged.


def _innocent() -> list[str]:
    out: list[str] = []
    fixed = [
        "password reset email sent",
        "password reset email sent to user 42",
        "token_count=12",
        "tokens: 12",
        "tokens used: 4096 of 8192",
        "max_tokens=4096 temperature=0.2",
        "prompt_tokens=512 completion_tokens=128 total_tokens=640",
        "secret santa draw done for team 7",
        "the password policy changed",
        "password policy: min length 12",
        "password is required",
        "password is too short",
        "password was changed 3 days ago",
        "password: reset requested by user 9",
        "password manager integration enabled",
        "user 7 logged in with password authentication",
        "signed in with password manager autofill",
        "password must contain 1 digit",
        "password hashing took 212 ms",
        "pwd /srv/app/releases/42",
        "pwd: /home/deploy",
        "token expired, refreshing",
        "token is expired",
        "token refresh took 35 ms",
        "token bucket refilled: 100 tokens",
        "token limit 4096 reached",
        "token v2 format enabled",
        "reset token sent to user 42",
        "invalid token for user 12",
        "secret rotation job 42 done",
        "secret key rotation scheduled",
        "secret manager returned 3 versions",
        "secret is missing from the vault",
        "secrets synced: 14",
        "api key rotated for tenant 5",
        "api key is invalid",
        "api key missing in request 8812",
        "API keys listed: 3",
        "apikey header not set",
        "credentials are valid",
        "credential cache hit ratio 0.98",
        "authorization failed for user 17",
        "authorization: denied",
        "basic plan upgraded to pro",
        "basic authentication enabled",
        "bearer tokens are supported",
        "Bearer authentication required",
        "author bob",
        "region asia-east1 selected",
        "timezone Asia/Tokyo",
        "aws region us-east-1, bucket shop-exports",
        "aws request id 7f3c2a1b-9d8e-4f6a-b5c4-d3e2f1a0b9c8",
        "basket total 42.50 EUR",
        "skipping task sk-learn-pipeline-version-2",
        "disk-usage 81% on /dev/sda1",
        "msg.handler started",
        "npm install finished in 12 s",
        "pypi-simple index mirrored",
        "SG. division report ready",
        "processed 1234567890123 bytes",
        "order 4111 1111 1111 1112 shipped",
        "phone +1 415 555 0100",
        "isbn 978-3-16-148410-0",
        "elapsed 1234 5678 ns",
        "version 2026.12.03.1045",
        "github_pat_ prefix documented",
        "ghp_ tokens are scanned by GitHub",
        "glpat- is GitLab's prefix",
        "xoxb- bots only",
        "AIza prefix noted",
        "AccountKey missing in the connection string",
        "connection string has no password",
        "jwt verification failed: bad signature",
        "signature verified for order 88",
        "eyJ is the start of a JSON header in base64",
        "ssh-rsa public key fingerprint SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
        "-----BEGIN CERTIFICATE----- received, 1204 bytes",
        "-----BEGIN PUBLIC KEY----- loaded",
        "the tokenizer produced 312 tokens",
        "detokenize: ok",
        "passwordless login link sent",
        "pass 3 of 5 finished",
        "compass heading 270",
        "basically done",
        "token_type=bearer expires_in=3600",
        "session 42 closed after 12 s",
        "redirect to https://example.com/login?next=/orders/42",
        "GET https://api.example.com:8443/v1/users?page=2 200",
        "user bob@example.com subscribed",
        "ftp://ftp.example.com/pub/file.txt downloaded",
        "postgres://db.internal:5432/shop reachable",
        "http://localhost:8080/healthz ok",
        "mailto:support@example.com link clicked",
        "sha256:4d2f6e9a0c8b7a6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1 pulled",
        "secret: none",
        "password: ******",
        "password=[REDACTED]",
        "api_key=${API_KEY}",
        "password: <hidden>",
        "token: null",
        "no secrets found in 213 files",
        "secret scanning detected 0 leaks",
        "user secret_santa_2026 joined",
        "Token count exceeded: 9000",
    ]
    out.extend(fixed)
    for _ in range(40):
        u = "-".join(_rand(HEX, n) for n in (8, 4, 4, 4, 12))
        out.append(f"request {u} handled in {_rng.randint(1, 900)} ms")
    for _ in range(30):
        sha = _rand(HEX, 40)
        out.append(f"deployed commit {sha} to prod")
        out.append(f"merge {sha[:7]} into main by ci")
    for _ in range(25):
        h = _rand(HEX, 32)
        out.append(f"GET /static/img/{h}.png 200 {_rng.randint(100, 99999)} bytes")
        out.append(f"cache miss https://cdn.example.com/assets/app.{h[:10]}.js")
    for _ in range(15):
        sha = _rand(HEX, 64)
        out.append(f"GET https://downloads.example.com/files/{sha}/report.pdf 304")
    for _ in range(15):
        img = base64.b64encode(bytes(_rng.getrandbits(8) for _ in range(120))).decode()
        out.append(f'avatar updated: <img src="data:image/png;base64,{img}">')
    for _ in range(30):
        out.append(f"order ORD-{_rng.randint(100000, 999999)} placed, {_rng.randint(1, 9)} items")
        out.append(
            f"invoice INV-2026-{_rng.randint(10000, 99999)} paid, amount {_rng.randint(1, 9999)}.{_rng.randint(10, 99)}"
        )
    for _ in range(20):
        trace = _rand(HEX, 32)
        out.append(f"traceparent 00-{trace}-{_rand(HEX, 16)}-01")
    for _ in range(15):
        out.append(
            f"pod shop-api-{_rand('bcdfghjklmnpqrstvwxz2456789', 10)}-{_rand('bcdfghjklmnpqrstvwxz2456789', 5)} "
            f"restarted on node ip-10-0-{_rng.randint(0, 255)}-{_rng.randint(0, 255)}"
        )
    for _ in range(15):
        out.append(f"2026-12-03T{_rng.randint(0, 23):02d}:{_rng.randint(0, 59):02d}:00Z job {_rng.randint(1, 99)} done")
    return out


INNOCENT: list[str] = _innocent()
