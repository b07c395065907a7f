namespace PcieVirt.Devices.Media;

/// <summary>A shared read-only block of zeros for zero writes, grown on demand (only at setup time).</summary>
public static class ZeroBuffer
{
    static byte[] s_zeros = new byte[256 * 1024];
    static readonly Lock s_grow = new();

    /// <summary>A span of <paramref name="length"/> zero bytes.</summary>
    public static ReadOnlySpan<byte> Get(int length)
    {
        byte[] zeros = Volatile.Read(ref s_zeros);
        if (zeros.Length < length)
            zeros = Grow(length);
        return zeros.AsSpan(0, length);
    }

    static byte[] Grow(int length)
    {
        lock (s_grow)
        {
            if (s_zeros.Length < length)
                Volatile.Write(ref s_zeros, new byte[Math.Max(length, s_zeros.Length * 2)]);
            return s_zeros;
        }
    }
}
