//! The book's cases one by one, and the delivery check.

use super::book::Missing;
use super::*;
use crate::engine::payload::{message_template, write_stamp};
use crate::results::setup::MessageType;
use wsbench_proto::MessageKind;

fn delivered(r: Receipt) -> (bool, bool) {
    match r {
        Receipt::Delivered { out_of_order, completed, .. } => (out_of_order, completed),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_message_completes_at_its_last_member_and_goes_back_to_its_publisher() {
    // Connections 10, 11, 12.
    let mut book = TopicBook::new(10, 3);
    (0..3).for_each(|_| book.joined());
    book.published(1, 1, 100, 100, true);
    assert_eq!(delivered(book.receive(1, 11, 1, 150)), (false, false));
    assert_eq!(book.receive(1, 11, 1, 151), Receipt::Duplicate, "same member twice");
    assert_eq!(delivered(book.receive(0, 11, 1, 160)), (false, false));
    assert!(!book.has_completed(1));
    assert_eq!(delivered(book.receive(2, 11, 1, 170)), (false, true));
    let mut done = Vec::new();
    book.take_completed(1, &mut done);
    assert_eq!(done, [(1, 170)]);
    assert_eq!(book.receive(2, 11, 1, 180), Receipt::Duplicate, "after completion");
    assert_eq!(book.receive(0, 11, 2, 180), Receipt::NeverSent);
    assert_eq!(book.receive(0, 13, 1, 180), Receipt::NotInTopic);
    assert_eq!(book.receive(0, 9, 1, 180), Receipt::NotInTopic);
    assert!(!book.drained(), "members still sending");
    (0..3).for_each(|_| book.stopped());
    assert!(book.drained());
}

#[test]
fn out_of_order_is_per_receiver_and_publisher() {
    let mut book = TopicBook::new(0, 2);
    for seq in 1..=3 {
        book.published(0, seq, seq, seq, true);
    }
    book.published(1, 1, 5, 5, true);
    assert_eq!(delivered(book.receive(1, 0, 2, 10)), (false, false));
    assert_eq!(delivered(book.receive(1, 1, 1, 10)), (false, false), "another publisher's order is its own");
    assert_eq!(delivered(book.receive(1, 0, 1, 11)), (true, false), "1 after 2");
    assert_eq!(delivered(book.receive(0, 0, 1, 12)), (false, true), "member 0 saw them in order");
}

#[test]
fn messages_short_of_members_expire_as_missing_deliveries() {
    let mut book = TopicBook::new(0, 4);
    book.joined();
    book.published(0, 1, 10, 10, true);
    book.published(0, 2, 20, 20, true);
    book.receive(0, 0, 1, 30);
    book.receive(1, 0, 1, 30);
    assert_eq!(book.expire(0, 15), Missing { deliveries: 2, example: Some((1, 2)) });
    assert_eq!(book.receive(2, 0, 1, 40), Receipt::Duplicate, "given up: late is not new");
    book.stopped();
    assert!(!book.drained(), "message 2 is still owed");
    assert_eq!(book.abandon(0), Missing { deliveries: 4, example: Some((2, 0)) });
    assert!(book.drained());
}

#[test]
fn deliveries_are_checked_against_their_publishers_message() {
    for kind in [MessageType::Text, MessageType::Binary] {
        let wire = match kind {
            MessageType::Text => MessageKind::Text,
            MessageType::Binary => MessageKind::Binary,
        };
        let mut m = message_template(7, kind, 40);
        write_stamp(&mut m, 7, 42);
        assert_eq!(check_delivery(kind, 40, wire, &m), Ok((7, 42)));
        let mut other = m.clone();
        write_stamp(&mut other, 8, 42);
        assert!(check_delivery(kind, 40, wire, &other).is_err(), "connection 8's filler differs");
        let mut flipped = m.clone();
        flipped[30] ^= 1;
        assert_eq!(check_delivery(kind, 40, wire, &flipped).unwrap_err().1, Some((7, 42)));
        assert!(check_delivery(kind, 41, wire, &m).is_err());
        assert_eq!(check_delivery(kind, 40, wire, b"nope").unwrap_err().1, None);
    }
    let m = message_template(1, MessageType::Text, 32);
    assert!(check_delivery(MessageType::Text, 32, MessageKind::Binary, &m).is_err(), "type checked");
}
