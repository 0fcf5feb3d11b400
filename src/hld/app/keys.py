"""Names of every key, stream and channel chirp uses in the store and the cache node.

Store (primary, persistent):
  chirp:home:{uid}              LIST of post ids, newest first (fan-out on write)
  chirp:posts:{uid}             LIST of the user's own post ids, newest first
  chirp:likes:{post_id}         STRING counter of likes
  chirp:likers:{post_id}        SET of user ids who liked (makes a like idempotent)
  chirp:session:{jti}           STRING username, expiring with the token
  chirp:trend:{minute}          ZSET hashtag -> uses in that minute (expires after 1 h)
  chirp:trend:authors:{tag}:{minute}  HyperLogLog of the authors using a tag that minute
  chirp:fanout                  STREAM of new posts; consumer group "fanout"
  chirp:fanout:dead             STREAM of messages that failed max_deliveries times
  chirp:live:{uid}              pub/sub channel: new posts for uid's home timeline
  chirp:live:author:{uid}       pub/sub channel: posts of a celebrity (fan-out on read)
Cache node (volatile, evicting):
  chirp:cache:user:{username}   JSON profile with counts
  chirp:cache:post:{post_id}    JSON post
"""

from __future__ import annotations

FANOUT_STREAM = "chirp:fanout"
FANOUT_GROUP = "fanout"
DEAD_STREAM = "chirp:fanout:dead"


def home(uid: int) -> str:
    return f"chirp:home:{uid}"


def user_posts(uid: int) -> str:
    return f"chirp:posts:{uid}"


def likes(post_id: int) -> str:
    return f"chirp:likes:{post_id}"


def likers(post_id: int) -> str:
    return f"chirp:likers:{post_id}"


def session(jti: str) -> str:
    return f"chirp:session:{jti}"


def trend(minute: int) -> str:
    return f"chirp:trend:{minute}"


def trend_authors(tag: str, minute: int) -> str:
    return f"chirp:trend:authors:{tag}:{minute}"


def live(uid: int) -> str:
    return f"chirp:live:{uid}"


def live_author(uid: int) -> str:
    return f"chirp:live:author:{uid}"


def cached_user(username: str) -> str:
    return f"chirp:cache:user:{username}"


def cached_post(post_id: int) -> str:
    return f"chirp:cache:post:{post_id}"
