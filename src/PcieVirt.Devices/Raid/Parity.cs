using System.Runtime.InteropServices;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// Parity arithmetic of RAID 5 and 6 over equal-length byte spans: P is the XOR of the data chunks,
/// Q = Σ g^i·D_i over GF(2^8) (<see cref="GaloisField"/>) with i the chunk's data index in its stripe, and
/// the recoveries of one or two missing chunks.
/// </summary>
public static class Parity
{
    const ulong HighBits = 0x8080808080808080UL;
    const ulong LowBits = 0x7F7F7F7F7F7F7F7FUL;

    /// <summary>target ^= source.</summary>
    public static void Xor(ReadOnlySpan<byte> source, Span<byte> target)
    {
        int n = source.Length;
        int words = n >> 3;
        ReadOnlySpan<ulong> s = MemoryMarshal.Cast<byte, ulong>(source[..(words << 3)]);
        Span<ulong> t = MemoryMarshal.Cast<byte, ulong>(target[..(words << 3)]);
        int v = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            int width = System.Numerics.Vector<ulong>.Count;
            for (; v + width <= words; v += width)
            {
                var a = new System.Numerics.Vector<ulong>(s[v..]);
                var b = new System.Numerics.Vector<ulong>(t[v..]);
                (a ^ b).CopyTo(t[v..]);
            }
        }
        for (; v < words; v++)
            t[v] ^= s[v];
        for (int i = words << 3; i < n; i++)
            target[i] ^= source[i];
    }

    /// <summary>Multiplies every byte of <paramref name="data"/> by g = {02} in place (the Horner step of Q).</summary>
    public static void MultiplyByGenerator(Span<byte> data)
    {
        int words = data.Length >> 3;
        Span<ulong> w = MemoryMarshal.Cast<byte, ulong>(data[..(words << 3)]);
        for (int i = 0; i < w.Length; i++)
        {
            // Per byte: shift left; bytes whose top bit fell off are reduced by XOR with 0x1D (0x11D without x^8).
            ulong x = w[i];
            ulong carry = (x & HighBits) >> 7;
            w[i] = ((x & LowBits) << 1) ^ (carry * 0x1D);
        }
        for (int i = words << 3; i < data.Length; i++)
        {
            int x = data[i] << 1;
            data[i] = (byte)((x & 0x100) != 0 ? x ^ GaloisField.Polynomial : x);
        }
    }

    /// <summary>
    /// Computes P and Q of a stripe's data chunks: chunk i (data index i) is the <paramref name="length"/>
    /// bytes at i × <paramref name="chunkStride"/> in <paramref name="buffer"/>. <paramref name="q"/> may be
    /// empty (RAID 5).
    /// </summary>
    public static void Compute(ReadOnlySpan<byte> buffer, int chunkCount, int chunkStride, int length, Span<byte> p, Span<byte> q)
    {
        p[..length].Clear();
        for (int i = 0; i < chunkCount; i++)
            Xor(buffer.Slice(i * chunkStride, length), p);
        if (q.IsEmpty)
            return;
        // Horner's rule from the highest index: Q = (((D_{k-1})·g + D_{k-2})·g + ...)·g + D_0.
        Span<byte> qq = q[..length];
        buffer.Slice((chunkCount - 1) * chunkStride, length).CopyTo(qq);
        for (int i = chunkCount - 2; i >= 0; i--)
        {
            MultiplyByGenerator(qq);
            Xor(buffer.Slice(i * chunkStride, length), qq);
        }
    }

    /// <summary>
    /// Partial syndromes with the chunks flagged in <paramref name="missingMask"/> taken as zero:
    /// P' = XOR of present chunks, Q' = Σ g^i·D_i over present chunks. Either output may be empty.
    /// </summary>
    public static void ComputePartial(ReadOnlySpan<byte> buffer, int chunkCount, int chunkStride, int length, ulong missingMask,
        Span<byte> p, Span<byte> q)
    {
        if (!p.IsEmpty)
        {
            p[..length].Clear();
            for (int i = 0; i < chunkCount; i++)
            {
                if ((missingMask & (1UL << i)) == 0)
                    Xor(buffer.Slice(i * chunkStride, length), p);
            }
        }
        if (!q.IsEmpty)
        {
            Span<byte> qq = q[..length];
            qq.Clear();
            for (int i = chunkCount - 1; i >= 0; i--)
            {
                MultiplyByGenerator(qq);
                if ((missingMask & (1UL << i)) == 0)
                    Xor(buffer.Slice(i * chunkStride, length), qq);
            }
        }
    }

    /// <summary>
    /// Recovers data chunk <paramref name="x"/> from Q alone: D_x = g^(−x)·(Q ⊕ Q'). On entry
    /// <paramref name="partial"/> holds Q', the syndrome of the other data chunks; on return it holds D_x.
    /// </summary>
    public static void RecoverFromQ(int x, ReadOnlySpan<byte> q, Span<byte> partial)
    {
        Xor(q, partial);
        GaloisField.MultiplyInPlace(GaloisField.Power(-x), partial);
    }

    /// <summary>
    /// Recovers two data chunks x &lt; y from P and Q. On entry <paramref name="dx"/> holds P ⊕ P' and
    /// <paramref name="dy"/> holds Q ⊕ Q' (P', Q': partial syndromes of the surviving data). Solving
    /// D_x ⊕ D_y = Pxy and g^x·D_x ⊕ g^y·D_y = Qxy gives D_x = (Qxy ⊕ g^y·Pxy)/(g^x ⊕ g^y), D_y = Pxy ⊕ D_x.
    /// </summary>
    public static void RecoverTwo(int x, int y, Span<byte> dx, Span<byte> dy)
    {
        byte gx = GaloisField.Power(x);
        byte gy = GaloisField.Power(y);
        byte denominatorInverse = GaloisField.Inverse((byte)(gx ^ gy));
        byte a = GaloisField.Multiply(gy, denominatorInverse); // multiplies Pxy
        byte b = denominatorInverse;                            // multiplies Qxy
        for (int i = 0; i < dx.Length; i++)
        {
            byte pxy = dx[i];
            byte d = (byte)(GaloisField.Multiply(a, pxy) ^ GaloisField.Multiply(b, dy[i]));
            dx[i] = d;
            dy[i] = (byte)(pxy ^ d);
        }
    }
}
