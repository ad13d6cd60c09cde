import { describe, expect, it } from 'vitest'
import { pathOf } from '@/components/regions'

describe('pathOf', () => {
  it('goes from the province down to a district', () => {
    expect(pathOf('330106')).toEqual(['330000', '330100', '330106'])
    expect(pathOf('360102')).toEqual(['360000', '360100', '360102'])
  })

  it('stops at a city or a province', () => {
    expect(pathOf('360100')).toEqual(['360000', '360100'])
    expect(pathOf('360000')).toEqual(['360000'])
  })
})
