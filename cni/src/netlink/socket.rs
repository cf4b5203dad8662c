//! One synchronous rtnetlink socket: send a request, collect the replies.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::Error;

/// An rtnetlink connection to the network namespace of the thread that opened it.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, Error> {
        let ctx = || "open rtnetlink socket".to_string();
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(Error::io(ctx))?;
        socket.bind_auto().map_err(Error::io(ctx))?;
        socket.set_ext_ack(true).map_err(Error::io(ctx))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(Error::io(ctx))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends a request that changes state and waits for the kernel's acknowledgement.
    pub(super) fn execute(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: impl Fn() -> String,
    ) -> Result<(), Error> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_ACK | flags, &what)
            .map(drop)
    }

    /// Sends a query for one object and returns the reply.
    pub(super) fn get(
        &mut self,
        msg: RouteNetlinkMessage,
        what: impl Fn() -> String,
    ) -> Result<RouteNetlinkMessage, Error> {
        let mut replies = self.exchange(msg, NLM_F_REQUEST, &what)?;
        replies
            .pop()
            .ok_or_else(|| Error::Malformed(format!("{}: no reply", what())))
    }

    /// Sends a dump request and returns every object the kernel listed.
    pub(super) fn dump(
        &mut self,
        msg: RouteNetlinkMessage,
        what: impl Fn() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>, Error> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_DUMP, &what)
    }

    fn exchange(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &dyn Fn() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>, Error> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(Error::io(what))?;

        let multipart = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut replies = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full().map_err(Error::io(what))?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| Error::Malformed(format!("{}: {e}", what())))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(Error::Malformed(format!("{}: zero-length message", what())));
                }
                offset += len;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(err) => match err.code {
                        None => return Ok(replies),
                        Some(_) => return Err(Error::Kernel(what(), err.to_io())),
                    },
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(inner) => {
                        replies.push(inner);
                        if !multipart && flags & NLM_F_ACK == 0 {
                            return Ok(replies);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
