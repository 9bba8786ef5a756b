#!/usr/bin/env python3
"""Makes JWTs for the auth tests with a tool independent of Sluice: Python's
`jwt` (PyJWT, Debian's python3-jwt), or by hand for tokens no library will
make (alg none, the HS256-with-a-public-key confusion attack).

  jwt_helper.py sign ALG KEY_FILE CLAIMS_JSON [HEADERS_JSON]
      PyJWT-signed token; KEY_FILE holds the HS256 secret (used byte for
      byte) or the PEM private key for RS256/ES256.
  jwt_helper.py forge HEADER_JSON CLAIMS_JSON [HMAC_KEY_FILE]
      base64url(header).base64url(claims).signature, the signature being
      HMAC-SHA256 with the file's bytes as key, or empty without a file.
  jwt_helper.py decode SECRET_FILE TOKEN
      Verifies an HS256 token with PyJWT and prints its claims as JSON.

Prints the token (or claims) on stdout, nothing else."""
import base64
import hashlib
import hmac
import json
import sys

import jwt


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main(argv):
    if len(argv) >= 4 and argv[1] == "sign":
        alg, key = argv[2], read(argv[3])
        claims = json.loads(argv[4])
        headers = json.loads(argv[5]) if len(argv) > 5 else None
        print(jwt.encode(claims, key, algorithm=alg, headers=headers))
        return 0
    if len(argv) >= 4 and argv[1] == "forge":
        signing_input = b64(argv[2].encode()) + "." + b64(argv[3].encode())
        signature = ""
        if len(argv) > 4:
            signature = b64(hmac.new(read(argv[4]), signing_input.encode(), hashlib.sha256).digest())
        print(signing_input + "." + signature)
        return 0
    if len(argv) == 4 and argv[1] == "decode":
        claims = jwt.decode(argv[3], read(argv[2]), algorithms=["HS256"], options={"verify_exp": True})
        print(json.dumps(claims))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
