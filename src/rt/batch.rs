//! The scheduling hint the proxy gives [`end_of_batch`](super::end_of_batch): which
//! group of writes a task's next write belongs to.

/// Which writes go out together at the end of a batch of ready tasks.
///
/// The epoll backend runs the tasks parked in `end_of_batch` once every ready task has
/// run, in this order: the requests for server 0, then server 1, …, then the responses
/// to clients last. A backend without a batch hook only yields, and ignores the value.
/// The order is the derived `Ord`: servers by index, [`Batch::clients`] after them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Batch(Group);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Group {
    /// A request written to the server at this index of its upstream group.
    Server(usize),
    /// A response written to a client; after every server's requests.
    Clients,
}

impl Batch {
    /// A request about to be written to the server at `index` (within its group): such
    /// writes leave back to back, so the server wakes once for several requests.
    pub fn server(index: usize) -> Batch {
        Batch(Group::Server(index))
    }

    /// A response about to be written to a client: after the batch's requests, so the
    /// servers get theirs first and each client finds several answers per wake-up.
    pub fn clients() -> Batch {
        Batch(Group::Clients)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_go_in_index_order_and_clients_last() {
        let mut order = [Batch::clients(), Batch::server(2), Batch::server(0)];
        order.sort();
        assert_eq!(
            order,
            [Batch::server(0), Batch::server(2), Batch::clients()]
        );
        assert!(Batch::server(usize::MAX) < Batch::clients());
    }
}
