"""A partner backend: one principal walks every customer's profile.

Each rolecall-* profile of the AWS config file (written by `rolecall
profiles`) gets its credentials from `rolecall credentials`; the backend asks
STS who it is in each customer's account and prints one JSON line per
profile. Debian's boto3 predates AWS_ENDPOINT_URL_*, so the STS endpoint is
passed explicitly (argv[1]).
"""
import json
import sys

import boto3


def main():
    endpoint = sys.argv[1]
    for profile in sorted(boto3.Session().available_profiles):
        if not profile.startswith("rolecall-"):
            continue
        sts = boto3.Session(profile_name=profile).client("sts", endpoint_url=endpoint)
        who = sts.get_caller_identity()
        print(json.dumps({"profile": profile, "account": who["Account"], "arn": who["Arn"]}))


if __name__ == "__main__":
    main()
