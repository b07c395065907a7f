namespace PcieVirt.Pci.Capabilities;

/// <summary>
/// Helpers for observers: a write hook sees the accessed bytes (offset, width, old value), which may
/// cover several registers or only part of one; these recover one register's view of it.
/// </summary>
internal static class RegisterBits
{
    /// <summary>True when an access [accessRel, +width) touches any byte of the register [regRel, +regWidth).</summary>
    public static bool Touches(int accessRel, int width, int regRel, int regWidth) =>
        accessRel < regRel + regWidth && regRel < accessRel + width;

    /// <summary>
    /// The register's value before the write: <paramref name="current"/> with the bytes the access
    /// covered replaced by the old bytes from <paramref name="oldValue"/>.
    /// </summary>
    public static uint Before(int accessRel, int width, uint oldValue, int regRel, int regWidth, uint current)
    {
        uint v = current;
        for (int i = 0; i < width; i++)
        {
            int b = accessRel + i - regRel;
            if ((uint)b >= (uint)regWidth) continue;
            v = (v & ~(0xFFu << (8 * b))) | ((oldValue >> (8 * i)) & 0xFF) << (8 * b);
        }
        return v;
    }

    /// <summary>The value the requester wrote into the register's bytes (bytes not written read as 0).</summary>
    public static uint Written(int accessRel, int width, uint written, int regRel, int regWidth)
    {
        uint v = 0;
        for (int i = 0; i < width; i++)
        {
            int b = accessRel + i - regRel;
            if ((uint)b >= (uint)regWidth) continue;
            v |= ((written >> (8 * i)) & 0xFF) << (8 * b);
        }
        return v;
    }

    /// <summary>Mask of the register's bits that the access actually wrote.</summary>
    public static uint WrittenMask(int accessRel, int width, int regRel, int regWidth) =>
        Written(accessRel, width, 0xFFFF_FFFF, regRel, regWidth);
}
