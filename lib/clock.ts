/**
 * ms: how far ahead of this instance's clock another's may be (another instance of the plugin, or an
 * upstream that dates what it answers). Entries and answers dated later are refused; what expires is
 * kept this long past its expiry for the clocks that are behind.
 */
export const CLOCK_SKEW = 60_000
